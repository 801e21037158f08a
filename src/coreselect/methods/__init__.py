"""Selection methods, one module each; importing a module registers its methods by name."""
