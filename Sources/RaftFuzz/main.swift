print("RaftFuzz: see README")
