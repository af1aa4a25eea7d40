"""The embedded local AWS stack: moto's server plus real behaviour where moto has none."""
