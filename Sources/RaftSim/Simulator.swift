// Simulator lands here (issue 3).
