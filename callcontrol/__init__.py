"""callcontrol: the decision-making service of an Asterisk call center (IVR, ACD, records, KPIs)."""

__version__ = "0.1.0"
