package respcache

// OnWait makes c call f each time a caller starts waiting for an identical
// call in flight, so that tests can tell when every caller has joined.
// Set it before c is used.
func OnWait(c *Cache, f func()) { c.waiting = f }
