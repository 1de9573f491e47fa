"""Make the bootstrap API keys known to the database (idempotent): the migration Job runs this after
`iot-api migrate`. The plaintext keys come from the Secret mounted at KEYS_DIR (one file per key
name, written on the controller); only their SHA-256 hashes reach the database, as with
`iot-api keys create`. Usage: bootstrap_keys.py KEYS_JSON KEYS_DIR"""
import json
import os
import sys

import psycopg2

from iot_api.auth import hash_key
from iot_api.config import Settings


def main(spec_file: str, keys_dir: str) -> None:
    with open(spec_file, encoding="utf-8") as f:
        wanted = json.load(f)  # [{"name": ..., "scope": "write" or [...]}], iot_api_bootstrap_keys
    conn = psycopg2.connect(Settings.from_env().dsn())
    try:
        with conn, conn.cursor() as cur:
            for entry in wanted:
                with open(os.path.join(keys_dir, entry["name"]), encoding="utf-8") as f:
                    key = f.read().strip()
                scopes = [entry["scope"]] if isinstance(entry["scope"], str) else list(entry["scope"])
                cur.execute("INSERT INTO api_keys (name, key_hash, scopes) VALUES (%s, %s, %s)"
                            " ON CONFLICT (key_hash) DO NOTHING",
                            (entry["name"], hash_key(key), scopes))
                print(f"key {entry['name']}: {'created' if cur.rowcount else 'present'}")
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
