"""What the tests share: servers and stacks to run against, and the helpers that drive them.
Tests import from here, never from a conftest or another test module."""
