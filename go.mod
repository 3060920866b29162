module github.com/sidewatch/sidewatch

go 1.26
