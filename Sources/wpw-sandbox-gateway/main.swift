print("wpw-sandbox-gateway placeholder")
