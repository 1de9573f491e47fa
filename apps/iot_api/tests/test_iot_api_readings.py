"""Ingestion (atomic COPY, idempotent retries), filtered reads with keyset pagination, stats."""
import gzip
import json
from datetime import datetime

import pytest
from iot_api_helpers import hdr, reading

pytestmark = pytest.mark.integration


def post(client, key, body, **headers):
    return client.post("/api/v1/readings", data=json.dumps(body),
                       headers=hdr(key, **{"Content-Type": "application/json", **headers}))


def test_single_reading_is_stored_with_every_field(client, keys, devices, clean_db):
    r = post(client, keys["write"], reading(i=7, status="heating", is_on=False, humidity=55.5))
    assert r.status_code == 201
    assert r.get_json() == {"received": 1, "inserted": 1, "duplicates": 0}
    with clean_db.cursor() as cur:
        cur.execute("SELECT device_id, measured_at, humidity, is_on, status, location FROM readings")
        row = cur.fetchall()
    assert len(row) == 1
    assert row[0][0] == "ac-1" and row[0][2] == pytest.approx(55.5)
    assert row[0][3] is False and row[0][4] == "heating" and row[0][5] == "bldg-a/floor-1"
    assert row[0][1].isoformat() == "2026-01-01T00:00:07+00:00"


def test_batch_is_written_and_retry_does_not_duplicate(client, keys, devices, counts):
    batch = [reading("ac-1" if i % 2 else "ac-2", i=i) for i in range(300)]
    r = post(client, keys["write"], batch)
    assert r.status_code == 201 and r.get_json()["inserted"] == 300
    # the same batch again (a client retry after a lost ack): nothing new, still 201
    r = post(client, keys["write"], batch)
    assert r.status_code == 201
    assert r.get_json() == {"received": 300, "inserted": 0, "duplicates": 300}
    # overlapping batch: only the new rows are written
    r = post(client, keys["write"], batch[-10:] + [reading(i=1000 + i) for i in range(5)])
    assert r.get_json() == {"received": 15, "inserted": 5, "duplicates": 10}
    assert counts()["readings"] == 305


def test_timestamps_with_offsets_and_fractions_are_stored_exactly(client, keys, devices, clean_db):
    sent = ["2026-01-01T12:00:00.5+05:30", "2026-01-01T06:30:00.500001Z", "2026-01-01T00:00:00-08:00"]
    r = post(client, keys["write"], [reading(i=0, measured_at=t) for t in sent])
    assert r.status_code == 201 and r.get_json()["inserted"] == 3
    with clean_db.cursor() as cur:
        cur.execute("SELECT measured_at FROM readings ORDER BY measured_at")
        stored = [row[0] for row in cur.fetchall()]
    assert stored == sorted(datetime.fromisoformat(t) for t in sent)


def test_duplicates_inside_one_batch_are_written_once(client, keys, devices, counts):
    r = post(client, keys["write"], [reading(i=1), reading(i=1, humidity=50.0), reading(i=2)])
    assert r.status_code == 201 and r.get_json()["inserted"] == 2
    assert counts()["readings"] == 2


def test_idempotency_key_replays_the_first_response(client, keys, devices, counts):
    body = [reading(i=i) for i in range(3)]
    first = post(client, keys["write"], body, **{"Idempotency-Key": "batch-42"})
    assert first.status_code == 201 and first.get_json()["inserted"] == 3
    again = post(client, keys["write"], body, **{"Idempotency-Key": "batch-42"})
    assert again.status_code == 201
    assert again.get_json() == first.get_json()  # original result, not "0 inserted"
    assert again.headers["Idempotent-Replayed"] == "true"
    other = post(client, keys["write"], [reading(i=99)], **{"Idempotency-Key": "batch-42"})
    assert other.status_code == 422
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert counts()["readings"] == 3 and counts()["idempotency_keys"] == 1


def test_list_filters_and_keyset_pagination(client, keys, devices):
    post(client, keys["write"], [reading("ac-1", i=i) for i in range(25)]
         + [reading("ac-2", i=i, location="bldg-a/floor-2") for i in range(25)])
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/readings?device_id=ac-1&limit=10" + (f"&cursor={cursor}" if cursor else "")
        r = client.get(url, headers=hdr(keys["read"]))
        assert r.status_code == 200
        page = r.get_json()
        seen += [it["measured_at"] for it in page["items"]]
        assert all(it["device_id"] == "ac-1" for it in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    assert seen == sorted(seen, reverse=True)  # newest first, no gap, no repeat

    r = client.get("/api/v1/readings?location=bldg-a/floor-2&since=2026-01-01T00:00:10Z"
                   "&until=2026-01-01T00:00:20Z&limit=100", headers=hdr(keys["read"]))
    items = r.get_json()["items"]
    assert len(items) == 10 and {it["device_id"] for it in items} == {"ac-2"}
    assert set(items[0]) == {"id", "device_id", "measured_at", "temperature_current",
                             "temperature_desired", "humidity", "pressure", "air_quality",
                             "voltage", "current", "power", "is_on", "status", "location"}


def test_latest_readings_of_one_device_gzip(client, keys, devices):
    post(client, keys["write"], [reading(i=i) for i in range(40)])
    r = client.get("/api/v1/readings?device_id=ac-1&limit=30",
                   headers=hdr(keys["read"], **{"Accept-Encoding": "gzip"}))
    assert r.headers["Content-Encoding"] == "gzip"
    items = json.loads(gzip.decompress(r.get_data()))["items"]
    assert [it["measured_at"][-14:-6] for it in items[:2]] == ["00:00:39", "00:00:38"]


def test_stats_per_device_and_bucket(client, keys, devices):
    rows = [reading("ac-1", i=i * 30, temperature_current=20.0 + i) for i in range(4)]  # 2 minutes
    rows += [reading("ac-2", i=5, temperature_current=30.0)]
    post(client, keys["write"], rows)
    r = client.get("/api/v1/readings/stats?bucket=minute&since=2026-01-01T00:00:00Z"
                   "&until=2026-01-01T01:00:00Z", headers=hdr(keys["read"]))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [(i["device_id"], i["bucket_start"][11:16], i["count"]) for i in items] == [
        ("ac-1", "00:00", 2), ("ac-1", "00:01", 2), ("ac-2", "00:00", 1)]
    t = items[0]["temperature_current"]
    assert (t["min"], t["avg"], t["max"]) == (20.0, 20.5, 21.0)
    r = client.get("/api/v1/readings/stats?device_id=ac-2&bucket=hour&since=2026-01-01T00:00:00Z"
                   "&until=2026-01-02T00:00:00Z", headers=hdr(keys["read"]))
    assert [(i["device_id"], i["count"]) for i in r.get_json()["items"]] == [("ac-2", 1)]


def test_ingested_readings_counter(client, keys, devices):
    def ingested():
        text = client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith('iot_api_readings_ingested_total{route="/api/v1/readings"}'):
                return float(line.split()[-1])
        return 0.0
    before = ingested()
    post(client, keys["write"], [reading(i=i) for i in range(12)])
    assert ingested() == before + 12
