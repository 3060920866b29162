module github.com/sidewatch/sidewatch

go 1.26

require github.com/leodido/go-syslog/v4 v4.6.0

require github.com/google/go-cmp v0.7.0 // indirect
