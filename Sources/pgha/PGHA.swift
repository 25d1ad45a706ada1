print("pgha")
