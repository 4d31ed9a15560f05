print("wpwithind placeholder")
