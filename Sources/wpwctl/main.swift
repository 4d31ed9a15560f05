print("wpwctl placeholder")
