"""The language model, when one is configured: any OpenAI-compatible endpoint, Ollama, or
``none`` (the graph then runs on rules and templates alone). Every call has a time-out; an
unreachable model becomes ``LLMError`` with the endpoint in the message."""


class LLMError(RuntimeError):
    pass


def make_model(settings):
    provider = settings.llm_provider
    if provider == "none":
        return None
    if not settings.llm_model:
        raise LLMError(f"DSA_AGENT_LLM_MODEL is required with provider {provider}")
    if provider == "openai":
        from langchain_openai import ChatOpenAI
        kw = {"model": settings.llm_model, "timeout": settings.llm_timeout, "max_retries": 1,
              "api_key": settings.llm_api_key or "unused"}
        if settings.llm_base_url:
            kw["base_url"] = settings.llm_base_url
        return ChatOpenAI(**kw)
    if provider == "ollama":
        from langchain_ollama import ChatOllama
        return ChatOllama(model=settings.llm_model,
                          base_url=settings.llm_base_url or "http://127.0.0.1:11434",
                          client_kwargs={"timeout": settings.llm_timeout})
    raise LLMError(f"unknown provider {provider!r}")


def describe_error(settings, exc: Exception) -> str:
    where = settings.llm_base_url or settings.llm_provider
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"llm: {settings.llm_provider} at {where} failed ({type(exc).__name__}: {text[:300]});" \
           " the report was written from the rules alone"
