"""Change notifications: publish on commit, deliver to whoever is listening."""
