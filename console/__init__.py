"""The staff API used by grid leaders, department staff and community officers (the console's backend)."""
