-- wrk script: SOAP getStatus over keep-alive HTTP (bench/getstatus.js passes the body file).
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '""'
local f = assert(io.open(os.getenv("PX_BENCH_BODY"), "r"))
wrk.body = f:read("*a")
f:close()
-- PX_BENCH_AUTHORIZATION: the Authorization header of the benchmark requester, if any.
local authorization = os.getenv("PX_BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
