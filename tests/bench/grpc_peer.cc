// The C++ peer of grpc_bench.py: bench.Echo from grpc_echo.proto on
// Debian's libgrpc++ with the callback API (CallbackService, reactors),
// one process with gRPC's own thread pool.
//
//   Echo  unary: copies the request message into the response
//   Chat  bidi: reads a message, writes it back, reads the next
//
//   grpc_peer PORT     (listens on 127.0.0.1 only, plaintext h2c)
//
// grpc_bench.py builds it with g++ -O2 from the code protoc and
// grpc_cpp_plugin generate; SIGTERM shuts it down.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc_echo.grpc.pb.h"

namespace {

class Chatter final : public grpc::ServerBidiReactor<bench::Msg, bench::Msg> {
 public:
	Chatter() { StartRead(&msg_); }
	void OnReadDone(bool ok) override
	{
		if (ok)
			StartWrite(&msg_);
		else
			Finish(grpc::Status::OK);	// the client is done writing
	}
	void OnWriteDone(bool ok) override
	{
		if (ok)
			StartRead(&msg_);
		else
			Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
	}
	void OnDone() override { delete this; }

 private:
	bench::Msg msg_;
};

class EchoService final : public bench::Echo::CallbackService {
	grpc::ServerUnaryReactor *Echo(grpc::CallbackServerContext *ctx,
	                               const bench::Msg *req, bench::Msg *resp) override
	{
		*resp = *req;
		grpc::ServerUnaryReactor *r = ctx->DefaultReactor();
		r->Finish(grpc::Status::OK);
		return r;
	}
	grpc::ServerBidiReactor<bench::Msg, bench::Msg> *
	Chat(grpc::CallbackServerContext *) override
	{
		return new Chatter();
	}
};

}  // namespace

int main(int argc, char **argv)
{
	int port = argc == 2 ? std::atoi(argv[1]) : 0;
	if (port <= 0 || port > 65535) {
		std::fprintf(stderr, "usage: grpc_peer PORT\n");
		return 2;
	}
	// gRPC's threads inherit this mask: SIGTERM reaches only sigwait below
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);

	EchoService service;
	grpc::ServerBuilder builder;
	builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
	                         grpc::InsecureServerCredentials());
	builder.RegisterService(&service);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server) {
		std::fprintf(stderr, "grpc_peer: cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	int sig;
	sigwait(&set, &sig);
	server->Shutdown();
	return 0;
}
