"""Checkers: History -> CheckResult, one module per property. Never import the simulator."""
