"""Grid carbon intensity from the data files codecarbon ships, and relatable equivalents of an energy figure.

Nothing here touches the network: the intensities are read from the installed codecarbon package. Energy is
the same everywhere; only the grams of CO2e depend on the grid that supplies it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from space import columns as C
from space.data import present
from space.escape import escape_html, escape_markdown

LB_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0
WORLD = "world"


@dataclass(frozen=True)
class GridRegion:
    """One grid's average carbon intensity and where the number comes from."""

    key: str
    label: str
    g_co2e_per_kwh: float
    year: int | None
    source: str


@dataclass(frozen=True)
class Equivalent:
    """Something familiar that costs a known amount of energy (Wh) or emits a known mass of CO2e (g)."""

    name: str
    unit: str
    wh: float | None
    g_co2e: float | None
    source: str

    def count(self, energy_wh: float, co2e_g: float) -> float:
        """How many of this the given energy (or emissions) equals."""
        if self.wh is not None:
            return energy_wh / self.wh
        assert self.g_co2e is not None
        return co2e_g / self.g_co2e


EQUIVALENTS: tuple[Equivalent, ...] = (
    Equivalent(
        "smartphone charges",
        "full charges",
        12.0,
        None,
        "12 Wh per full charge, the figure used by Luccioni, Jernite & Strubell, 'Power Hungry Processing' "
        "(FAccT 2024)",
    ),
    Equivalent(
        "hours of a 10 W LED bulb",
        "hours",
        10.0,
        None,
        "an 800-lumen LED bulb draws about 10 W (US DOE, energy.gov 'LED Lighting')",
    ),
    Equivalent(
        "litres of water boiled",
        "litres",
        93.0,
        None,
        "heating 1 L of water from 20 to 100 °C takes 4.186 kJ/(kg·K) × 80 K = 335 kJ = 93 Wh, at 100% efficiency",
    ),
    Equivalent(
        "km driven by a petrol car",
        "km",
        None,
        249.0,
        "about 400 g CO2 per mile (249 g/km) for a typical passenger vehicle (US EPA, 'Greenhouse Gas Emissions "
        "from a Typical Passenger Vehicle')",
    ),
)


def _data_text(relative: str) -> str:
    return (resources.files("codecarbon") / "data" / relative).read_text(encoding="utf-8-sig")


def _source_factors() -> dict[str, Any]:
    return dict(json.loads(_data_text("private_infra/carbon_intensity_per_source.json")))


def _mix_intensity(mix: dict[str, float], factors: dict[str, Any], names: dict[str, str]) -> float:
    """Generation-weighted intensity; sources without a factor stay in the denominator at 0 (a lower bound)."""
    total = sum(mix.values())
    if total <= 0:
        return float("nan")
    return sum(float(factors[names[k]]) * v for k, v in mix.items() if k in names) / total


# Disjoint generation sources of global_energy_mix.json (the file also holds sums such as fossil_TWh).
_COUNTRY_SOURCES = {
    "coal": "coal",
    "oil": "petroleum",
    "gas": "natural_gas",
    "biofuel": "biofuel",
    "nuclear": "nuclear",
    "hydroelectricity": "hydroelectricity",
    "solar": "solar",
    "wind": "wind",
}
_COUNTRY_OTHER = "other_renewable_exc_biofuel"


def _countries(factors: dict[str, Any]) -> list[GridRegion]:
    data = json.loads(_data_text("private_infra/global_energy_mix.json"))
    base = "codecarbon global_energy_mix.json (Our World in Data electricity data, from Ember and the Energy Institute)"
    regions = []
    for iso, row in data.items():
        intensity, source = row.get("carbon_intensity"), base
        if not intensity:
            mix = {k: float(row.get(f"{k}_TWh") or 0.0) for k in [*_COUNTRY_SOURCES, _COUNTRY_OTHER]}
            intensity = _mix_intensity(mix, factors, _COUNTRY_SOURCES)
            source = f"{base}; intensity computed from its generation mix with the per-source factors"
        regions.append(
            GridRegion(f"country:{iso}", str(row["country_name"]), float(intensity), row.get("year"), source)
        )
    return regions


def _us_states() -> list[GridRegion]:
    data = json.loads(_data_text("private_infra/2023/usa_emissions.json"))
    meta = data["_source"]
    source = f"codecarbon usa_emissions.json: {meta['name']} ({meta['url']})"
    return [
        GridRegion(
            f"us:{name}",
            f"United States · {name.title()}",
            float(row["emissions"]) * LB_PER_MWH_TO_G_PER_KWH,
            int(meta.get("year", 2023)),
            source,
        )
        for name, row in data.items()
        if not name.startswith("_")
    ]


_CANADA_SOURCES = {
    "coal": "coal",
    "petroleum": "petroleum",
    "naturalGas": "natural_gas",
    "biomass": "biomass",
    "solar": "solar",
    "wind": "wind",
    "hydro": "hydroelectricity",
    "nuclear": "nuclear",
}


def _canada(factors: dict[str, Any]) -> list[GridRegion]:
    data = json.loads(_data_text("private_infra/2023/canada_energy_mix.json"))
    source = (
        "codecarbon canada_energy_mix.json (2023 generation shares) × codecarbon carbon_intensity_per_source.json; "
        "tidal and other generation counted at 0"
    )
    regions = []
    for name, mix in data.items():
        shares = {k: float(v) for k, v in mix.items() if k != "total"}
        regions.append(
            GridRegion(
                f"ca:{name}", f"Canada · {name.title()}", _mix_intensity(shares, factors, _CANADA_SOURCES), 2023, source
            )
        )
    return regions


def _zones(relative: str, prefix: str, country: str) -> list[GridRegion]:
    payload = json.loads(_data_text(relative))
    meta = payload.get("metadata", {})
    source = f"codecarbon {relative.rsplit('/', 1)[-1]}: {meta.get('source', '')}".strip()
    return [
        GridRegion(
            f"{prefix}:{code}",
            f"{country} · {row.get('description', code)}",
            float(row["emission_factor"]),
            row.get("year"),
            source[:400],
        )
        for code, row in payload["data"].items()
    ]


def _cloud() -> list[GridRegion]:
    rows = csv.DictReader(io.StringIO(_data_text("cloud/impact.csv")))
    regions = []
    for row in rows:
        place = ", ".join(p for p in (row.get("city"), row.get("country_name")) if p)
        regions.append(
            GridRegion(
                f"cloud:{row['provider']}:{row['region']}",
                f"Cloud · {row['providerName']} {row['region']} ({place})",
                float(row["impact"]),
                None,
                f"codecarbon cloud/impact.csv: {row.get('source') or row['providerName']}",
            )
        )
    return regions


@cache
def grid_regions() -> dict[str, GridRegion]:
    """Every grid region codecarbon has data for, keyed by e.g. 'country:FRA', 'us:california', 'cloud:gcp:...'."""
    factors = _source_factors()
    world = GridRegion(
        WORLD,
        "World average",
        float(factors["world_average"]),
        None,
        f"codecarbon carbon_intensity_per_source.json: {factors.get('world_average_source', '')}",
    )
    found = [
        *_countries(factors),
        *_us_states(),
        *_canada(factors),
        *_zones("private_infra/2023/china_provincial_emissions.json", "cn", "China"),
        *_zones("private_infra/nordic_emissions.json", "nordic", "Nordics"),
        *_cloud(),
    ]
    ordered = sorted((r for r in found if r.g_co2e_per_kwh == r.g_co2e_per_kwh), key=lambda r: r.label)
    return {world.key: world, **{r.key: r for r in ordered}}


def region_choices() -> list[tuple[str, str]]:
    """(label with intensity, key) pairs for a dropdown, world average first."""
    return [(f"{r.label} ({r.g_co2e_per_kwh:.0f} g/kWh)", r.key) for r in grid_regions().values()]


def co2e_grams(energy_wh: float, region: GridRegion) -> float:
    """Grams of CO2e for `energy_wh` watt-hours drawn from `region`'s grid."""
    return energy_wh / 1000.0 * region.g_co2e_per_kwh


def equivalents(energy_wh: float, co2e_g: float) -> list[tuple[Equivalent, float]]:
    """Each equivalent with how many of it the energy (or the emissions) equals."""
    return [(e, e.count(energy_wh, co2e_g)) for e in EQUIVALENTS]


def carbon_markdown(row: dict[str, Any], region: GridRegion) -> str:
    """The footprint text: which energy is converted, the grid's factor, the result and its equivalents."""
    total_key = "total_energy_wh_per_1k" if present(row.get("total_energy_wh_per_1k")) else "scored_energy_wh_per_1k"
    energy = float(row[total_key])
    grams = co2e_grams(energy, region)
    year = f", {region.year}" if region.year else ""
    lines = [
        f"### {grams:.3g} g CO2e per 1,000 queries",
        f"{energy:.4g} Wh per 1,000 queries (GPU, CPU and RAM together: {row[C.METERS.label]}) × "
        f"{region.g_co2e_per_kwh:.0f} g CO2e/kWh for **{escape_markdown(region.label)}**{year}.",
        "",
        "| equals about | per 1,000 queries | factor and source |",
        "|---|---|---|",
    ]
    for equivalent, count in equivalents(energy, grams):
        factor = f"{equivalent.wh:g} Wh each" if equivalent.wh is not None else f"{equivalent.g_co2e:g} g CO2e each"
        lines.append(f"| {equivalent.name} | {count:.3g} | {factor}: {escape_html(equivalent.source)} |")
    lines += ["", f"<span class='numbers-note'>Grid factor source: {escape_html(region.source)}</span>"]
    return "\n".join(lines)
