"""pytest plugin (entry point ``jobsim``): fixtures for users' own job tests."""
