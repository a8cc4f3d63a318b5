module benchrefprog

go 1.24
