"""Helpers shared by the iot_api tests (a uniquely named module: several conftest.py files
live in this repository, so tests must not import from ``conftest``)."""
from datetime import datetime, timedelta, timezone

TABLES = ("readings", "devices", "device_configs", "device_config_history", "api_keys",
          "idempotency_keys", "iot")
BASE_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)


def hdr(key: str, **extra) -> dict:
    return {"Authorization": f"Bearer {key}", **extra}


def reading(device_id="ac-1", i=0, **over) -> dict:
    r = {
        "device_id": device_id,
        "measured_at": (BASE_TIME + timedelta(seconds=i)).isoformat(),
        "temperature_current": 23.5, "temperature_desired": 22.0, "humidity": 41.0,
        "pressure": 1012.5, "air_quality": 35.0, "voltage": 229.8, "current": 2.4,
        "power": 550.0, "is_on": True, "status": "cooling", "location": "bldg-a/floor-1",
    }
    r.update(over)
    return r
