"""French-first labels with an English switch. Keys are dotted; a missing key shows itself (visible in tests)."""

from __future__ import annotations

import streamlit as st

LANGS = ("fr", "en")
LANG_NAMES = {"fr": "Français", "en": "English"}

TEXT: dict[str, dict[str, str]] = {
    "app.title": {"fr": "Madinina Monitor", "en": "Madinina Monitor"},
    "app.tagline": {"fr": "Capteurs IoT de la Martinique", "en": "Martinique IoT sensors"},
    "page.live": {"fr": "Temps réel", "en": "Live"},
    "sidebar.language": {"fr": "Langue", "en": "Language"},
    "sidebar.refresh": {"fr": "Rafraîchissement", "en": "Refresh"},
    "refresh.off": {"fr": "Arrêté", "en": "Off"},
    "sidebar.timezone": {"fr": "Heures affichées : Martinique (UTC−4)", "en": "Times shown: Martinique (UTC−4)"},
    "page.trends": {"fr": "Tendances", "en": "Trends"},
    "sidebar.range": {"fr": "Période", "en": "Time range"},
    "sidebar.range.15m": {"fr": "15 dernières minutes", "en": "Last 15 minutes"},
    "sidebar.range.1h": {"fr": "Dernière heure", "en": "Last hour"},
    "sidebar.range.6h": {"fr": "6 dernières heures", "en": "Last 6 hours"},
    "sidebar.range.24h": {"fr": "24 dernières heures", "en": "Last 24 hours"},
    "sidebar.range.7d": {"fr": "7 derniers jours", "en": "Last 7 days"},
    "sidebar.range.30d": {"fr": "30 derniers jours", "en": "Last 30 days"},
    "sidebar.range.custom": {"fr": "Personnalisée…", "en": "Custom…"},
    "sidebar.from": {"fr": "Du", "en": "From"},
    "sidebar.to": {"fr": "Au", "en": "To"},
    "sidebar.local": {"fr": "Heure de Martinique", "en": "Martinique time"},
    "sidebar.bad_range": {
        "fr": "La fin doit être après le début : la période précédente est conservée.",
        "en": "The end must be after the start: the previous range is kept.",
    },
    "sidebar.communes": {"fr": "Communes", "en": "Towns"},
    "sidebar.kinds": {"fr": "Types de capteur", "en": "Sensor kinds"},
    "sidebar.sensors": {"fr": "Capteurs", "en": "Sensors"},
    "sidebar.sensors_all": {"fr": "Tous ({n})", "en": "All ({n})"},
    "sidebar.all_f": {"fr": "Toutes", "en": "All"},
    "sidebar.all_m": {"fr": "Tous", "en": "All"},
    "sidebar.metric": {"fr": "Mesure", "en": "Metric"},
    "db.unavailable": {
        "fr": "Base de données injoignable — les données ne peuvent pas être affichées. Vérifiez que le service "
        "tourne (`bash scripts/run.sh`) ou la configuration DATABASE_URL. Détail : {detail}",
        "en": "Database unreachable — data cannot be shown. Check that the service is running (`bash scripts/run.sh`) or "
        "the DATABASE_URL setting. Detail: {detail}",
    },
    "db.empty": {
        "fr": "Aucune donnée pour l'instant : la base est vide. Lancez l'ingestion (`bash scripts/run.sh`) puis revenez.",
        "en": "No data yet: the database is empty. Start the ingestion (`bash scripts/run.sh`) and come back.",
    },
    "live.title": {"fr": "Temps réel", "en": "Live"},
    "live.updated": {"fr": "Mis à jour à {time} (heure de Martinique)", "en": "Updated at {time} (Martinique time)"},
    "live.online": {"fr": "Capteurs en ligne", "en": "Sensors online"},
    "live.stale": {"fr": "En retard", "en": "Stale"},
    "live.offline": {"fr": "Hors ligne", "en": "Offline"},
    "live.msg_rate": {"fr": "Messages/s", "en": "Messages/s"},
    "live.msg_rate_help": {
        "fr": "Lectures enregistrées par seconde (dernière minute)",
        "en": "Readings stored per second (last minute)",
    },
    "live.latest_values": {
        "fr": "Dernières valeurs (moyenne sur la dernière minute complète)",
        "en": "Latest values (mean over the last complete minute)",
    },
    "live.delta_help": {"fr": "Écart avec la minute précédente", "en": "Change from the previous minute"},
    "live.series": {"fr": "Série en direct", "en": "Live series"},
    "live.metric": {"fr": "Mesure", "en": "Metric"},
    "live.sensors": {"fr": "Capteurs", "en": "Sensors"},
    "live.window": {"fr": "Fenêtre", "en": "Window"},
    "live.table": {"fr": "Dernière lecture par capteur", "en": "Latest reading per sensor"},
    "live.no_series": {
        "fr": "Pas de lecture récente pour cette sélection.",
        "en": "No recent reading for this selection.",
    },
    "live.source": {"fr": "Source : {source}, pas de {step}", "en": "Source: {source}, step {step}"},
    "source.raw": {"fr": "lectures brutes (sensor_data)", "en": "raw readings (sensor_data)"},
    "source.agg": {"fr": "agrégats fenêtrés (sensor_data_agg)", "en": "windowed aggregates (sensor_data_agg)"},
    "col.sensor": {"fr": "Capteur", "en": "Sensor"},
    "col.commune": {"fr": "Commune", "en": "Town"},
    "col.kind": {"fr": "Type", "en": "Kind"},
    "col.status": {"fr": "État", "en": "Status"},
    "col.last_seen": {"fr": "Dernière lecture", "en": "Last reading"},
    "col.time": {"fr": "Heure (Martinique)", "en": "Time (Martinique)"},
    "col.value": {"fr": "Valeur", "en": "Value"},
    "status.online": {"fr": "en ligne", "en": "online"},
    "status.stale": {"fr": "en retard", "en": "stale"},
    "status.offline": {"fr": "hors ligne", "en": "offline"},
    "kind.air_quality": {"fr": "Qualité de l'air", "en": "Air quality"},
    "kind.weather": {"fr": "Météo", "en": "Weather"},
    "kind.noise": {"fr": "Bruit", "en": "Noise"},
    "kind.traffic": {"fr": "Trafic", "en": "Traffic"},
    "kind.parking": {"fr": "Stationnement", "en": "Parking"},
    "kind.light": {"fr": "Éclairage public", "en": "Street lights"},
    "kind.environment": {"fr": "Environnement intérieur", "en": "Indoor environment"},
    "kind.sargassum": {"fr": "Sargasses", "en": "Sargassum"},
}


def register(texts: dict[str, dict[str, str]]) -> None:
    """Pages and components declare their own labels next to their code; keys must not collide."""
    clashes = {k for k in texts if k in TEXT and TEXT[k] != texts[k]}
    if clashes:
        raise KeyError(f"i18n keys defined twice with different texts: {sorted(clashes)}")
    TEXT.update(texts)


def lang() -> str:
    value = st.session_state.get("lang", "fr")
    return value if value in LANGS else "fr"


def t(key: str, **fields) -> str:
    entry = TEXT.get(key)
    text = entry.get(lang(), entry["fr"]) if entry else key
    return text.format(**fields) if fields else text


def metric_label(row) -> str:
    """Label of a metric from a row having label_fr / label_en."""
    return row["label_fr"] if lang() == "fr" else row["label_en"]
