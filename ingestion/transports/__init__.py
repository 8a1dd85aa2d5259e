"""How messages travel from the simulator (or real sensors) to a processor: direct, mqtt, kafka, files."""
