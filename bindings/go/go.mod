module cab

go 1.19
