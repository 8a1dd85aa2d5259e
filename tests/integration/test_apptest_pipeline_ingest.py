"""The Pipeline page's ingestion section in AppTest on real PostgreSQL: what waits in each consumer's spool and
since when, a consumer without heartbeat reported as silent, consumer names and errors shown as plain text."""

from datetime import UTC, datetime, timedelta

from tests.integration.test_apptest_pipeline import app_env, now, seeded  # noqa: F401 - fixtures (now: pinned clock)

HOSTILE = "[clic](https://evil.example) <img src=x onerror=alert(1)>"


def seed_status(conn, moment: datetime) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ingest_status (consumer, updated_at, host, pid, state, spool_depth, spool_bytes,"
            " spool_max_bytes, oldest_unsent_at, last_commit_at, last_error) VALUES"
            " ('madinina-consumer', now(), 'gw-1', 4242, 'database_down', 1234, 500000, 1073741824, %s, %s, 'gone'),"
            " (%s, now() - interval '10 minutes', 'gw-2', 7, 'running', 66, 1000, 1000000, NULL, %s, '')",
            (moment - timedelta(minutes=3), moment - timedelta(minutes=3), HOSTILE, moment - timedelta(minutes=10)),
        )


def test_spool_depth_oldest_unsent_and_silent_consumers(seeded, conn, app_env):  # noqa: F811
    seed_status(conn, datetime.now(UTC).replace(microsecond=0))
    at = app_env(seeded, {"range": "1h"})
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader][-1] == "Ingestion"
    values = {m.label: m.value for m in at.metric}
    assert values["En attente dans les spools"] == "1\u202f300"  # 1,234 + 66
    table = at.dataframe[-1].value.set_index("Consommateur")
    first = table.loc["madinina-consumer (gw-1, pid 4242)"]
    assert first["État"] == "base indisponible" and first["En attente (spool)"] == "1\u202f234"
    assert first["Dernière erreur"] == "gone"
    hostile = table.loc[f"{HOSTILE} (gw-2, pid 7)"]  # in a dataframe cell: text, never markdown or HTML
    assert hostile["État"] == "sans nouvelles"  # last heartbeat 10 minutes ago
    assert not any("evil.example" in m.value for m in at.markdown)


def test_no_consumer_yet(seeded, app_env):  # noqa: F811
    at = app_env(seeded, {"range": "1h", "lang": "en"})
    assert not at.exception, at.exception
    assert any("No consumer has reported yet" in i.value for i in at.info)
