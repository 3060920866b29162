module github.com/sidewatch/sidewatch

go 1.26

require github.com/google/go-cmp v0.7.0

require github.com/awslabs/go-config-generator-for-fluentd-and-fluentbit v0.0.0-20210308162251-8959c62cb8f9
