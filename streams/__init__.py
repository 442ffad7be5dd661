"""Stream processing: the Faust worker, Debezium codec, embedded broker and the CLI."""
