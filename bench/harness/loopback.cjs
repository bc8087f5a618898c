// Preloaded into Portkey's Node process (node --require): its server binds every
// interface by default; the benchmark keeps everything on 127.0.0.1.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const cb = args.find((a) => typeof a === "function");
    return listen.call(this, args[0], "127.0.0.1", ...(cb ? [cb] : []));
  }
  if (args[0] && typeof args[0] === "object" && args[0].port !== undefined) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
