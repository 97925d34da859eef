module github.com/keelai/keel/bench/vector

go 1.26.8

replace github.com/keelai/keel => ../..

require (
	github.com/keelai/keel v0.0.0-00010101000000-000000000000
	github.com/philippgille/chromem-go v0.7.0
)

require golang.org/x/sys v0.50.0 // indirect
