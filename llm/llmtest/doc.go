// Package llmtest helps test code built on Keel without a network or an API
// key: Model is a scripted fake llm.Model, and the subpackages
// anthropictest, openaitest and geminitest are wire emulators of the
// provider APIs (httptest servers) with fault injection, built on the
// pieces in this package (WireScript, SSEWriter, Fault).
package llmtest
