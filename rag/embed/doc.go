// Package embed turns text into vectors for retrieval: rag.Embedder
// implementations for OpenAI (and any OpenAI-compatible server: Ollama,
// vLLM, llama.cpp), Gemini and Voyage, and a cache that makes re-embedding
// the same text with the same model free.
//
// Every embedder splits its input into batches, sends up to Concurrency of
// them at once, and reports failures as *llm.Error with the kinds the retry
// and fallback middleware understand. The SDKs' own retries are off: pass
// retry middleware in Options.Middleware, and each batch request is retried
// by it.
//
//	e, err := embed.NewOpenAI(embed.Options{Model: "text-embedding-3-small", APIKey: key})
//	cache, err := embed.OpenSQLiteCache(ctx, filepath.Join(dataDir, "embeddings.db"))
//	e = embed.Cached(e, embed.NewMemoryCache(100_000), cache)
//	vecs, err := e.Embed(ctx, texts)
package embed
