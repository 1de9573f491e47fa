"""Request models (pydantic v2). Bodies are validated strictly from the raw bytes
(``TypeAdapter.validate_json``): no type coercion, unknown fields rejected, NaN/Infinity rejected,
every value range-checked."""
from datetime import datetime, timezone
from typing import Annotated, Literal, Optional

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

STATUSES = ("off", "idle", "cooling", "heating", "fan", "dry", "auto", "defrost", "error")
DEVICE_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
LOCATION_RE = r"^[A-Za-z0-9][A-Za-z0-9 _.,:/#()-]{0,127}$"
NAME_RE = r"^[^\x00-\x1f\x7f]{1,128}$"
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_RE)]
Location = Annotated[str, StringConstraints(pattern=LOCATION_RE)]
Name = Annotated[str, StringConstraints(pattern=NAME_RE)]
Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
MeasuredAt = Annotated[AwareDatetime, Field(ge=EARLIEST)]
# Readings keep the timestamp as the client's RFC 3339 text (checked by this pattern here and by
# datetime.fromisoformat plus the range check in readings._parse), so that COPY can pass it on
# unchanged: formatting 500 parsed datetimes back to text cost about a quarter of the
# ingestion's Python time.
RFC3339_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
Timestamp = Annotated[str, StringConstraints(pattern=RFC3339_RE),
                      Field(json_schema_extra={"format": "date-time"})]

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_QUERY = ConfigDict(extra="forbid", allow_inf_nan=False)


class Reading(BaseModel):
    """One air-conditioner reading (the reference reading)."""
    model_config = _STRICT

    device_id: DeviceId
    measured_at: Timestamp = Field(description="When the device measured it: RFC 3339 with an"
                                               " offset, 2000-01-01 to one day ahead")
    temperature_current: Annotated[float, Field(ge=-40, le=80, description="degrees Celsius")]
    temperature_desired: Annotated[float, Field(ge=10, le=35, description="degrees Celsius")]
    humidity: Annotated[float, Field(ge=0, le=100, description="relative humidity, %")]
    pressure: Annotated[float, Field(ge=800, le=1100, description="hPa")]
    air_quality: Annotated[float, Field(ge=0, le=500, description="air quality index")]
    voltage: Annotated[float, Field(ge=0, le=480, description="volts")]
    current: Annotated[float, Field(ge=0, le=100, description="amperes")]
    power: Annotated[float, Field(ge=0, le=50000, description="watts")]
    is_on: bool
    status: Literal[STATUSES]  # type: ignore[valid-type]
    location: Location


class DeviceCreate(BaseModel):
    model_config = _STRICT
    id: DeviceId
    name: Name
    location: Location
    kind: Kind = "air_conditioner"


class DeviceUpdate(BaseModel):
    model_config = _STRICT
    name: Optional[Name] = None
    location: Optional[Location] = None
    kind: Optional[Kind] = None


class DeviceConfig(BaseModel):
    model_config = _STRICT
    temperature_setpoint: Annotated[float, Field(ge=16, le=30)]
    humidity_setpoint: Annotated[float, Field(ge=30, le=70)]
    sampling_interval_s: Annotated[int, Field(ge=1, le=86400)]
    enabled: bool


DEFAULT_CONFIG = {"temperature_setpoint": 22.0, "humidity_setpoint": 45.0,
                  "sampling_interval_s": 60, "enabled": True}

Cursor = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ReadingsQuery(BaseModel):
    model_config = _QUERY
    device_id: Optional[DeviceId] = None
    location: Optional[Location] = None
    since: Optional[MeasuredAt] = None
    until: Optional[MeasuredAt] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Optional[Cursor] = None


class StatsQuery(BaseModel):
    model_config = _QUERY
    device_id: Optional[DeviceId] = None
    location: Optional[Location] = None
    since: Optional[MeasuredAt] = None
    until: Optional[MeasuredAt] = None
    bucket: Literal["minute", "hour", "day"] = "hour"


class DevicesQuery(BaseModel):
    model_config = _QUERY
    location: Optional[Location] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    after: Optional[DeviceId] = None


class ReferenceListQuery(BaseModel):
    model_config = _QUERY
    limit: Annotated[int, Field(ge=1, le=10000)] = 500


class ReferenceCreateQuery(BaseModel):
    model_config = _QUERY
    n: Annotated[int, Field(ge=1, le=100000)] = 1


def batch_adapter(limit: int) -> TypeAdapter:
    return TypeAdapter(Annotated[list[Reading], Field(min_length=1, max_length=limit)])


ONE_READING = TypeAdapter(Reading)
