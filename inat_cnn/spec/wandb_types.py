"""Value types with W&B's JSON-schema meaning, for the pydantic sweep models.

W&B validates the sweep as JSON: a ``number`` is an int or a float but never a
boolean or a string, an ``integer`` also admits integral floats (``2.0``), and a
key that is present must hold a value of its type (null is not a number). Pydantic's
lax mode would turn ``true`` into 1 and the text ``"1e-4"`` into 0.0001: W&B refuses
both, so these types refuse them too (PyYAML reads ``1e-4``, without a dot, as text).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator


class KeyProblem(ValueError):
    """A validator's complaint about one key of the mapping it checks (the key joins the key path)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _yaml_number_hint(value: Any) -> str:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return (f"; YAML reads {value} as text (a float needs a dot and a signed exponent, "
                f"e.g. 1.0e-4): W&B would refuse it too")
    return ""


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("Input should be a valid number" + _yaml_number_hint(value))
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON schema's integer admits 2.0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Input should be a valid integer" + _yaml_number_hint(value))
    return value


#: JSON-schema ``number``: int or float, not bool, not text.
Number = Annotated[int | float, BeforeValidator(_number)]
#: JSON-schema ``integer``: int, or a float with no fractional part; not bool, not text.
Integer = Annotated[int, BeforeValidator(_integer)]


class Strict(BaseModel):
    """Unknown keys are errors, and a key that is present must not be null (W&B's schema rules)."""

    model_config = ConfigDict(extra="forbid")
    #: Keys whose value may be null (W&B's schema gives them no type).
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None and key in cls.model_fields and key not in cls.nullable:
                    raise KeyProblem(str(key), f"`{key}` is empty (null): give it a value or remove the key")
        return data
