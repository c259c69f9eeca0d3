import OrdersService
import ServiceKit

await OrdersService.definition.runMain()
