"""Running units: training a unit's models (``training``), evaluating them into the unit's result folder
(``produce``), and bringing finished units in from another checkout (``collect``)."""
