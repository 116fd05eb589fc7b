// --listen parsing and the bind check before anything starts.
#include "listen.hpp"

#include <gtest/gtest.h>

#include "serve_support.hpp"

namespace cinergy::serve::detail {
namespace {

TEST(ServeListen, ParsesIpv4HostAndPort) {
  auto a = parse_listen("127.0.0.1:9838");
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9838);
  EXPECT_TRUE(a->loopback());
  EXPECT_EQ(a->text(), "127.0.0.1:9838");
  auto l = parse_listen("localhost:0");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->host, "127.0.0.1");
  EXPECT_EQ(l->port, 0);
  auto all = parse_listen("0.0.0.0:9100");
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->loopback());
}

TEST(ServeListen, RefusesWhatItCannotServeNamingTheValue) {
  for (const char* bad : {"9838", ":9838", "[::1]:9838", "example.org:9838", "127.0.0.1:",
                          "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:12ab", "1.2.3:80"}) {
    auto r = parse_listen(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(std::string("--listen ") + bad), std::string::npos)
        << r.error().message;
  }
  EXPECT_NE(parse_listen("[::1]:9838").error().message.find("IPv6"), std::string::npos);
}

TEST(ServeListen, APortInUseIsOneClearLine) {
  test::TakenPort busy;
  ASSERT_GT(busy.port(), 0);
  const ListenAddress taken{"127.0.0.1", busy.port()};
  auto r = check_can_listen(taken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "--listen " + taken.text() +
                                  ": address already in use (another cinergy serve or exporter? "
                                  "pick a free port with --listen)");
  busy.release();
  EXPECT_TRUE(check_can_listen(taken)) << "free again";
  EXPECT_TRUE(check_can_listen({"127.0.0.1", 0}));
}

}  // namespace
}  // namespace cinergy::serve::detail
