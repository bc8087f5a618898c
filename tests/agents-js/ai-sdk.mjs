// The Vercel AI SDK's default OpenAI provider (openai(model) calls /v1/responses)
// against the gateway: node ai-sdk.mjs BASE_URL MODEL -> one JSON line of results.
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, streamText, stepCountIs, tool } from "ai";
import { z } from "zod";

const [baseURL, model] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey: "any" });
const out = {};

const text = await generateText({ model: openai(model), prompt: "hello from the AI SDK" });
out.text = text.text;
out.textFinish = text.finishReason;

let called = null;
const stream = streamText({
  model: openai(model),
  prompt: "What is the weather in `Paris`? use get_weather",
  tools: {
    get_weather: tool({
      description: "The weather of a city",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => { called = city; return `18C and sunny in ${city}`; },
    }),
  },
  toolChoice: "required",
  stopWhen: stepCountIs(1),
});
let streamed = "";
for await (const part of stream.fullStream) {
  if (part.type === "error") throw part.error;
  if (part.type === "text-delta") streamed += part.text;
}
out.toolCalled = called;
out.toolResults = (await stream.toolResults).map((r) => r.output);

const obj = await generateObject({
  model: openai(model),
  schema: z.object({ city: z.string(), temperature: z.number() }),
  prompt: "Paris weather as JSON",
});
out.object = obj.object;
console.log(JSON.stringify(out));
