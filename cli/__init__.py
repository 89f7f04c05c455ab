"""The `hongguan` command line: run everything, migrate, seed, worker, sandbox, chat, nlp."""
