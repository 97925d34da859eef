package cost

import (
	"fmt"
	"math"
)

// USD is an amount of money in billionths of a US dollar. Integers keep
// sums exact and let budgets reserve and reconcile atomically; a
// nano-dollar is fine enough for the cheapest token classes priced today
// ($0.005 per million tokens is 5 nano-dollars a token).
type USD int64

// Dollar is one US dollar.
const Dollar USD = 1_000_000_000

// Dollars converts a float amount of dollars, rounding to the nearest
// nano-dollar.
func Dollars(d float64) USD { return USD(math.Round(d * float64(Dollar))) }

// Float returns the amount in dollars.
func (u USD) Float() float64 { return float64(u) / float64(Dollar) }

// String formats the amount as dollars with up to nine decimals, trailing
// zeros trimmed to at least two: "$0.0123", "$12.00".
func (u USD) String() string {
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	s := fmt.Sprintf("%d.%09d", u/Dollar, u%Dollar)
	for len(s) > 0 && s[len(s)-1] == '0' && s[len(s)-3] != '.' {
		s = s[:len(s)-1]
	}
	return sign + "$" + s
}
