import BookingService
import ServiceKit

await BookingService.definition.runMain()
