'use strict';
// An application's TerminalStatusNotification endpoint for bench/notifications.js, run as a
// child process (child_process.fork) so that it does not share the bench's event loop or CPU
// figures: node:http with keep-alive, answers every POST 200 with an empty
// statusNotificationResponse. IPC: sends { type: 'listening', port } once bound; answers
// { type: 'stats' } with { type: 'stats', requests, bytes, statusNotifications, cpu }.
const http = require('node:http');

const NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification/v2_2/local';
const RESPONSE = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>'
  + '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
  + `<ns:statusNotificationResponse xmlns:ns="${NS}"/></soapenv:Body></soapenv:Envelope>`);
const HEADERS = { 'content-type': 'text/xml; charset=utf-8', 'content-length': RESPONSE.length };

const counters = { requests: 0, bytes: 0, statusNotifications: 0 };

const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  let size = 0;
  let kind = false;
  req.on('data', (chunk) => {
    size += chunk.length;
    // The wrapper element is near the start of the first chunk: a cheap sanity check.
    if (!kind && chunk.includes('statusNotification')) kind = true;
  });
  req.on('end', () => {
    counters.requests++;
    counters.bytes += size;
    if (kind) counters.statusNotifications++;
    res.writeHead(200, HEADERS);
    res.end(RESPONSE);
  });
});
server.headersTimeout = 60000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.address().port });
});

process.on('message', (message) => {
  if (message && message.type === 'stats') {
    process.send({ type: 'stats', ...counters, cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
  }
});
// The parent going away (IPC closed) ends the sink.
process.on('disconnect', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
