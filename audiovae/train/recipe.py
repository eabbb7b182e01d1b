"""The recipe schema, re-exported: it lives in `audiovae.recipe` so that the inference side can read
recipes without importing the training package. Kept for code that imports it from here."""

from audiovae.recipe import (
    DataSection,
    FeaturesSection,
    FiltersSection,
    ModelSection,
    PairKindSection,
    PairsSection,
    Recipe,
    Section,
    SyntheticSection,
    TrainSection,
    apply_override,
    frontend_from_recipe,
    load_recipe,
    recipe_from_dict,
)

__all__ = [
    "DataSection",
    "FeaturesSection",
    "FiltersSection",
    "ModelSection",
    "PairKindSection",
    "PairsSection",
    "Recipe",
    "Section",
    "SyntheticSection",
    "TrainSection",
    "apply_override",
    "frontend_from_recipe",
    "load_recipe",
    "recipe_from_dict",
]
