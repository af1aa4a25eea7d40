"""The deployed pipeline as the code sees it: the template's facts, a stage's stack, the
parameters and checks of ``make deploy``, the Chalice configuration of ``chalice deploy``."""
