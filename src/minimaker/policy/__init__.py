"""The policy as data: a versioned YAML file validated by pydantic."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, model_validator


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    retention: str


class Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    lawful_basis: str
    categories: list[str]
    objectable: bool = False


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    in_eu: bool


class Controller(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    contact: str


class Policy(BaseModel):
    """The whole policy file; categories named by purposes must exist."""

    model_config = ConfigDict(extra="forbid")
    version: str
    effective: str
    controller: Controller
    categories: dict[str, Category]
    purposes: dict[str, Purpose]
    regions: dict[str, Region]
    processors: list[dict[str, str]]

    @model_validator(mode="after")
    def _purposes_name_known_categories(self) -> Policy:
        for name, purpose in self.purposes.items():
            unknown = set(purpose.categories) - set(self.categories)
            if unknown:
                raise ValueError(f"purpose {name} names unknown categories {sorted(unknown)}")
        return self


@lru_cache(maxsize=1)
def load_policy() -> Policy:
    """The policy shipped with this release."""
    text = resources.files("minimaker.policy").joinpath("policy.yaml").read_text("utf-8")
    return Policy.model_validate(yaml.safe_load(text))


def policy_text() -> str:
    """The human-readable policy the product promises (shipped with the package)."""
    return (
        resources.files("minimaker.policy")
        .joinpath("data-protection-policy.txt")
        .read_text("utf-8")
    )
