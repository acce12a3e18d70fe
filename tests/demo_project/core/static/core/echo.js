// asgi.stack demo: a WebSocket round trip to the echo consumer (/ws/echo/),
// over wss when the page came over https.
(() => {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/echo/`);
  const shown = document.getElementById("echo");
  socket.onopen = () => socket.send(`hello over ${scheme}`);
  socket.onmessage = (event) => {
    shown.textContent = event.data;
  };
  socket.onerror = () => {
    shown.textContent = "no WebSocket";
  };
})();
