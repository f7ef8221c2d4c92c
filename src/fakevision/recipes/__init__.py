"""Built-in recipes (YAML files shipped in the package); ``fakevision recipes`` lists them."""
