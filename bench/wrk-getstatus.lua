-- wrk script: a POST over keep-alive HTTP (bench/getstatus.js passes the body file). SOAP
-- getStatus by default; PX_BENCH_CONTENT_TYPE set (the CAMARA phase: application/json) sends
-- that Content-Type and no SOAPAction.
wrk.method = "POST"
local contentType = os.getenv("PX_BENCH_CONTENT_TYPE")
if contentType and contentType ~= "" then
  wrk.headers["Content-Type"] = contentType
else
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
  wrk.headers["SOAPAction"] = '""'
end
local f = assert(io.open(os.getenv("PX_BENCH_BODY"), "r"))
wrk.body = f:read("*a")
f:close()
-- PX_BENCH_AUTHORIZATION: the Authorization header of the benchmark requester, if any.
local authorization = os.getenv("PX_BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
