module cab-sample-batch

go 1.19

require cab v0.0.0

replace cab => ../../bindings/go
