"""Reusable UI pieces (plain functions) shared by the pages."""
