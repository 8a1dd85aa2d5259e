"""The options of the Spark job's Kafka sources (the connector's names, which ingestion/spark/kafka_source.py takes
too; the Kafka sources on a broker: tests/integration/test_spark_kafka.py)."""

from ingestion.spark.sources import KAFKA_PACKAGE, KafkaConfig


def test_defaults_environment_and_overrides():
    config = KafkaConfig.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            "KAFKA_MAX_OFFSETS_PER_TRIGGER": "50000",
            "KAFKA_OPTION_KAFKA_SECURITY_PROTOCOL": "SSL",
        },
        topic="madinina",
        starting_offsets=None,  # None: keep what the environment or the default says
    )
    assert config.options() == {
        "kafka.bootstrap.servers": "kafka:9092",
        "subscribe": "madinina",
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
        "includeHeaders": "true",
        "kafka.security.protocol": "SSL",
        "maxOffsetsPerTrigger": "50000",
    }
    assert KafkaConfig.from_env({}).options()["subscribe"] == "sensor_data"


def test_the_connector_is_the_one_of_the_pinned_spark():
    import pyspark

    assert f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}" == KAFKA_PACKAGE
